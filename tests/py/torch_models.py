"""Helpers shared by the PyTorch-side test and benchmark scripts (imported from this directory;
bench/peers adds it to sys.path)."""
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


def seeded_torchvision(arch, seed):
    """torchvision's `arch` with its default initialisation drawn under torch.manual_seed(seed),
    and a generator seeded with seed + 1 for the caller's further draws."""
    import torchvision
    torch.manual_seed(seed)
    model = getattr(torchvision.models, arch)(weights=None)
    return model, torch.Generator().manual_seed(seed + 1)


def batchnorms(model):
    """The model's BatchNorm2d modules, in module order."""
    return [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]


def draw_batchnorm(model, g, draws):
    """Draws every BatchNorm2d's tensors from generator g: module by module and, in each, in the
    order of `draws`, (attribute, "rand" or "randn", scale, offset) sets the attribute to
    torch.rand|randn(num_features) * scale + offset."""
    with torch.no_grad():
        for m in batchnorms(model):
            for attr, dist, scale, offset in draws:
                x = getattr(torch, dist)(m.num_features, generator=g) * scale
                getattr(m, attr).copy_(x + offset if offset else x)
