"""Shipped detector weights (.pt, .onnx) and their model card (MODEL_CARD.md)."""
