"""Ground-truth generators for every pipeline."""

from neurocine.simulate.convnmf import ConvNMFSimulation, generate, generate_templates, simulate_convnmf

__all__ = ["ConvNMFSimulation", "generate", "generate_templates", "simulate_convnmf"]
