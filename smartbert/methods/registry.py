"""The one method interface (docs/design.md): every method registers under one name, used as the
registry key, the config block ``methods.<name>``, the file ``baselines/<name>.py`` and the path
part ``.../<name>/...``.

A method says how to build its model from a backbone, its training stages (a stage may be
reused from another method's checkpoint), its default exit policy and its config dataclass.
Training loops, tracing, replay, dynamic inference, metrics and FLOPs are shared.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import inspect
import pkgutil
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import ClassVar, Generic, TypeVar

import torch
from torch import nn
from torch.nn import functional as F
from transformers import BertModel

from smartbert.core.config import PROBABILITY, check_settings, setting
from smartbert.core.errors import SmartBertError, UnknownNameError, one_line
from smartbert.modeling.encoder import additive_mask
from smartbert.modeling.frozen import FrozenFn, FrozenInputs, frozen_inputs
from smartbert.modeling.model import EarlyExitModel
from smartbert.replay.policies import POLICIES, ExitPolicy, make_policy, policy_class

Batch = dict[str, torch.Tensor]
LossFn = Callable[[EarlyExitModel, Batch, int], tuple[torch.Tensor, dict[str, torch.Tensor]]]


def final_logits(model: EarlyExitModel, batch: Batch) -> torch.Tensor:
    """The last head's logits on the full-depth path (how a stage is scored by default); the other
    heads are not computed."""
    final = model.layer_states(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])[-1]
    return model.head(model.num_layers)(final, additive_mask(batch["attention_mask"], final.dtype))


def final_cross_entropy(model: EarlyExitModel, batch: Batch, epoch: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Cross-entropy of the last head on the full-depth path (BERT fine-tuning, FastBERT's stage 1)."""
    loss = F.cross_entropy(final_logits(model, batch), batch["labels"])
    return loss, {"ce": loss}


def exit_logits(model: EarlyExitModel, batch: Batch, layers: Iterable[int] | None = None) -> torch.Tensor:
    """[B, K, C]: the logits of the exits at ``layers`` (default: all) on the full-depth path."""
    logits = model.forward_all_exits(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
    return torch.stack([logits[layer] for layer in (layers if layers is not None else sorted(logits))], dim=1)


def frozen_layer_states(model: EarlyExitModel, batch: Batch) -> FrozenInputs:
    """A frozen backbone's X^1..X^{L-1} ([B, T, L-1, H]) and its last head's logits ("teacher"):
    what stages that train intermediate exits on a frozen model read (DeeBERT, FastBERT)."""
    states = model.layer_states(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
    mask = additive_mask(batch["attention_mask"], states[0].dtype)
    return FrozenInputs(tokens={"states": torch.stack(states[:-1], dim=2)},
                        rows={"teacher": model.head(model.num_layers)(states[-1], mask)})


def frozen_exit_logits(model: EarlyExitModel, batch: Batch) -> torch.Tensor:
    """[B, L-1, C]: exits 1..L-1 on a frozen backbone's states (cached by the trainer when it can:
    :mod:`smartbert.modeling.frozen`); how stages that train intermediate exits are scored."""
    states = frozen_inputs(model, batch, frozen_layer_states).tokens["states"]
    mask = additive_mask(batch["attention_mask"], states.dtype)
    return torch.stack([model.head(layer)(states[:, :, layer - 1], mask) for layer in range(1, model.num_layers)], dim=1)


#: which epoch a stage ends with (``Stage.keep``): the best on the selection split, or the last
STAGE_KEEP = ("best", "last")


@dataclass
class Stage:
    """One training stage: which parameters train, on which loss, and how an epoch is scored.

    ``loss(model, batch, epoch)`` returns the total loss and its named terms (for logs and the
    non-finite-loss error). ``reuse`` names another method whose trained model *is* this stage
    (DeeBERT's stage 1 is BERT's fine-tuned model), loaded instead of trained, after which
    ``after_reuse(model)`` runs; ``epochs`` and ``learning_rate`` override the shared training
    config. ``teacher`` names a method whose trained model (``--init-from``) gives soft targets:
    its logits on each training example reach the loss as ``batch["teacher_logits"]``. ``keep``:
    the epoch whose weights the stage ends with, ``best`` on the selection split or the ``last``
    (as official codes that never evaluate a stage do); ``frozen_dropout``: modules with nothing
    to train still run in train mode (dropout on), as in codes that call ``model.train()`` on a
    partly frozen model. ``frozen(model, batch)``: what the trainable part reads from the frozen
    part (:class:`smartbert.modeling.frozen.FrozenInputs`), which ``loss`` and ``score_logits`` get through
    :func:`smartbert.modeling.frozen.frozen_inputs`; the trainer computes it once per example and caches it
    (not with ``frozen_dropout``: dropout makes it differ every epoch).
    """

    name: str
    trainable: Callable[[EarlyExitModel], Iterable[nn.Parameter]]
    loss: LossFn
    score_logits: Callable[[EarlyExitModel, Batch], torch.Tensor] = final_logits
    epochs: int | None = None
    learning_rate: float | None = None
    reuse: str | None = None
    after_reuse: Callable[[EarlyExitModel], None] | None = None
    teacher: str | None = None
    keep: str = "best"
    frozen_dropout: bool = False
    frozen: FrozenFn | None = None

    def __post_init__(self) -> None:
        if self.keep not in STAGE_KEEP:
            raise ValueError(f"stage {self.name!r}: keep must be 'best' or 'last', got {self.keep!r}")


@dataclass
class MethodConfig:
    """Base of every method's config (PEFT-style: one dataclass per method, documented fields)."""

    dropout: float = field(default=0.1, metadata=setting("dropout inside the heads", PROBABILITY))

    def __post_init__(self) -> None:
        check_settings(self)


ConfigT = TypeVar("ConfigT", bound=MethodConfig)


class Method(ABC, Generic[ConfigT]):
    """A method: subclasses set ``name``, ``config_class``, ``default_policy`` and implement
    :meth:`build` and :meth:`stages`, then decorate themselves with :func:`register`. Typed by its
    config (``class Bert(Method[BertMethodConfig])``); a plain ``Method`` subclass works as well."""

    name: ClassVar[str]
    config_class: ClassVar[type[MethodConfig]] = MethodConfig
    default_policy: ClassVar[str] = "none"
    paper: ClassVar[str] = ""  # "Authors, year, Name": tables show the part after the last comma

    @property
    def display_name(self) -> str:
        """The method's name in tables and figures (from ``paper``; the registry key if empty)."""
        return self.paper.rsplit(",", 1)[-1].strip() or self.name

    def label(self, config: dict) -> str:
        """The name tables give a trained model of this method with ``config`` (default: the display name)."""
        return self.display_name

    @abstractmethod
    def build(self, backbone: BertModel, num_labels: int, config: ConfigT) -> EarlyExitModel:
        """The method's model on ``backbone`` (a transformers BertModel, weights loaded)."""

    @abstractmethod
    def stages(self, config: ConfigT) -> list[Stage]:
        """Training stages, in order."""

    def policy(self, config: ConfigT, threshold: float | None) -> ExitPolicy:
        """The method's exit rule at ``threshold`` (ignored by static methods)."""
        return make_policy(self.default_policy, threshold)

    @property
    def policy_class(self) -> type[ExitPolicy]:
        """The class of the method's exit rule: its threshold's name, domain, Table 1 points."""
        return policy_class(self.default_policy)

    @property
    def static(self) -> bool:
        """A method whose rule takes no threshold (BERT, DistilBERT): one setting, one table row."""
        return self.policy_class.is_static()


METHODS: dict[str, Method] = {}
_PLUGINS_LOADED = False


#: the entry-point group through which an installed package adds methods (README, "A method from
#: your own package"): ``[project.entry-points."smartbert.methods"] NAME = "my_package.module"``
ENTRY_POINT_GROUP = "smartbert.methods"
#: packages whose every module is a method (a new baseline is one file in ``baselines/``); imported by
#: name, so the library never depends on its plugins (the import-linter contracts in pyproject.toml)
BUILTIN_PACKAGES = ("smartbert.methods", "baselines")
METHOD_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: make ``cls`` available under ``cls.name``, once :func:`check_method` accepts it."""
    check_method(cls)
    if cls.name in METHODS and type(METHODS[cls.name]) is not cls:
        existing = type(METHODS[cls.name])
        raise SmartBertError(f"method name {cls.name!r} is registered twice: by {existing.__module__}.{existing.__qualname__} "
                             f"and {cls.__module__}.{cls.__qualname__}; rename one")
    METHODS[cls.name] = cls()
    return cls


def check_method(cls: type) -> None:
    """What the registry requires of a method before every command, rule and test sees it: a name,
    a dataclass config that builds with its defaults, a known exit policy, ``build`` and ``stages``
    implemented, and stages that are :class:`Stage` objects."""
    where = f"{getattr(cls, '__module__', '?')}.{getattr(cls, '__qualname__', cls)}"
    problems = []
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise SmartBertError(f"{where} is not a smartbert.methods.registry.Method subclass and cannot be registered")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not METHOD_NAME.match(name):
        problems.append(f"`name` {name!r} must be lower-case letters, digits and _ (it names the method in commands and paths)")
    config_class = cls.config_class
    if not (isinstance(config_class, type) and issubclass(config_class, MethodConfig) and dataclasses.is_dataclass(config_class)):
        problems.append("`config_class` must be a dataclass subclassing smartbert.methods.registry.MethodConfig")
    if cls.default_policy not in POLICIES:
        problems.append(f"`default_policy` {cls.default_policy!r} is not an exit policy ({', '.join(POLICIES)})")
    if inspect.isabstract(cls):
        problems.append(f"it must implement {sorted(cls.__abstractmethods__)}")
    if not problems:
        try:
            stages = cls().stages(config_class())
        except Exception as error:  # noqa: BLE001 - whatever a plugin raises, named below
            problems.append(f"`stages(config_class())` failed ({one_line(error)})")
        else:
            if not (isinstance(stages, list) and stages and all(isinstance(stage, Stage) for stage in stages)):
                problems.append("`stages(config)` must return a non-empty list of smartbert.methods.registry.Stage")
    if problems:
        raise SmartBertError(f"method {where} cannot be registered: " + "; ".join(problems))


def _load_plugins() -> None:
    """Import every module of the ``smartbert.methods`` and ``baselines`` packages, then every
    installed package's :data:`ENTRY_POINT_GROUP` entry point (each registers its method)."""
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    _PLUGINS_LOADED = True  # set first: a plugin importing the registry must not load the plugins again
    for name in BUILTIN_PACKAGES:
        package = importlib.import_module(name)
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{name}.{module.name}")
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = entry.load()
        except SmartBertError:
            raise
        except Exception as error:  # noqa: BLE001 - a broken plugin is named, not a traceback
            raise SmartBertError(f"method plugin {entry.name!r} ({entry.value}, entry point group {ENTRY_POINT_GROUP!r}) "
                                 f"failed to import: {one_line(error)}; fix or uninstall its package") from None
        if isinstance(loaded, type) and loaded.__dict__.get("name") not in METHODS:
            register(loaded)  # the entry point names the class itself rather than a module that registers it


def get_method(name: str) -> Method:
    _load_plugins()
    if name not in METHODS:
        raise UnknownNameError("method", name, list(METHODS), hint="A new method is one file in baselines/ (README: Adding a baseline)")
    return METHODS[name]


def method_names() -> list[str]:
    _load_plugins()
    return sorted(METHODS)
