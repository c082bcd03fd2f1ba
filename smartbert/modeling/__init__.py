"""Modeling: torch models and the devices they run on. Backbones (MiniLM, BERT, DistilBERT
conversion), the layer-by-layer encoder, exit heads and skipping gates, the early-exit model, losses,
fvcore FLOPs counting, the frozen-pass inputs a second training stage reads, device handling."""
