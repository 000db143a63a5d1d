"""Writes a seeded-random torchvision ResNet whose logits are spread (for int8 accuracy checks).

usage: int8_make_resnet.py ARCH OUT.pth [--seed S]

torchvision's default initialisation gives a random ResNet near-flat logits (every class about
equally likely), which makes top-1 agreement meaningless. Here the BatchNorm statistics are
randomised (running mean/var, affine weight/bias: each channel gets its own scale and offset,
as in a trained network) and the classifier is scaled so the logits span several units.
"""
import sys

import torch
import torchvision


def make(arch, seed):
    torch.manual_seed(seed)
    m = getattr(torchvision.models, arch)(weights=None)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                c = mod.num_features
                mod.running_mean.copy_(torch.randn(c, generator=g) * 0.2)
                mod.running_var.copy_(torch.rand(c, generator=g) * 1.5 + 0.5)
                mod.weight.copy_(torch.rand(c, generator=g) * 0.8 + 0.6)
                mod.bias.copy_(torch.randn(c, generator=g) * 0.2)
        m.fc.weight.mul_(8.0)
        m.fc.bias.copy_(torch.randn(m.fc.out_features, generator=g) * 0.5)
    return m.eval()


def main():
    args = sys.argv[1:]
    seed = 0
    if "--seed" in args:
        i = args.index("--seed")
        seed = int(args[i + 1])
        del args[i:i + 2]
    if len(args) != 2:
        sys.exit(__doc__)
    torch.save(make(args[0], seed).state_dict(), args[1])


if __name__ == "__main__":
    main()
