"""Helpers shared by the PyTorch-side test scripts (imported from their own directory)."""
import torch


def randomise_batchnorm(model):
    """Draws every BatchNorm2d's affine parameters and running statistics (in place, from
    torch's current seed), so that batch-norm folding is exercised rather than a no-op."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    return model
