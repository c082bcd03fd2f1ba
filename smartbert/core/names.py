"""Names the layers share: the methods and variants the paper's tables single out (one home for each)."""

BERT = "bert"                 # the static reference every claim compares with
SMARTBERT = "smartbert"       # the paper's method
DEFAULT_VARIANT = "default"   # a method's own configuration (variants: config/variants/*.yaml)
SKIP_ONLY = "skiponly"        # SmartBERT's gates on, exits off: Table 3 (a sweep of the default model)
MAJORITY = "majority class"   # the row every table adds per task: a model at or below it learned nothing
