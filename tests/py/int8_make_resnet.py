"""Writes a seeded-random torchvision ResNet whose logits are spread (for int8 accuracy checks).

usage: int8_make_resnet.py ARCH OUT.pth [--seed S] [--plain]

--plain: random BatchNorm statistics and a scaled classifier, no photos and no centring (logits
dominated by a few classes; a model that amplifies small differences less, for comparing two
int8 runtimes step by step).

torchvision's default initialisation gives a random ResNet near-flat logits (every class about
equally likely), which makes top-1 agreement meaningless. Here the BatchNorm statistics are
set from photos and the affine weight/bias randomised (each channel gets its own scale and
offset, as in a trained network); the classifier is then centred on the mean pooled feature of a few
photos (crops of scikit-image's astronaut, chelsea, coffee, rocket: a random network otherwise puts every input in
the class whose weights best match the common feature mean) and scaled so the logits' standard
deviation across classes is about 4: different photos get different top-1 classes.
"""
import sys

import torch

from torch_models import batchnorms, draw_batchnorm, seeded_torchvision


def make_plain(arch, seed):
    m, g = seeded_torchvision(arch, seed)
    draw_batchnorm(m, g, [("running_mean", "randn", 0.2, 0), ("running_var", "rand", 1.5, 0.5),
                          ("weight", "rand", 0.8, 0.6), ("bias", "randn", 0.2, 0)])
    with torch.no_grad():
        m.fc.weight.mul_(8.0)
        m.fc.bias.copy_(torch.randn(m.fc.out_features, generator=g) * 0.5)
    return m.eval()


def make(arch, seed):
    m, g = seeded_torchvision(arch, seed)
    x = centring_inputs()
    with torch.no_grad():
        # Statistics: each BatchNorm's running mean / variance are those of its input on the
        # photos (one pass in training mode with a cumulative average), as in a trained network;
        # the affine scale and shift are random per channel.
        for mod in batchnorms(m):
            mod.reset_running_stats()
            mod.momentum = None
        draw_batchnorm(m, g, [("weight", "rand", 0.8, 0.6), ("bias", "randn", 0.3, 0)])
        m.train()
        m(x)
        for mod in batchnorms(m):
            mod.momentum = 0.1
        m.eval()
        feats = features(m, x)
        mean = feats.mean(0)
        m.fc.bias.copy_(-m.fc.weight @ mean)
        logits = (feats - mean) @ m.fc.weight.T
        m.fc.weight.mul_(4.0 / logits.std().item())
        m.fc.bias.mul_(4.0 / logits.std().item())
    return m.eval()


def centring_inputs():
    """Crops of three scikit-image photos, ImageNet-normalised, [N, 3, 224, 224]."""
    from PIL import Image
    d = "/usr/lib/python3/dist-packages/skimage/data"
    out = []
    for name in ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"):
        im = Image.open(f"{d}/{name}").convert("RGB")
        w, h = im.size
        s = min(w, h)
        for f, (fx, fy) in ((1.0, (0.5, 0.5)), (0.6, (0.2, 0.2)), (0.6, (0.8, 0.8)),
                            (0.5, (0.2, 0.8)), (0.5, (0.8, 0.2)), (0.7, (0.5, 0.5))):
            c = int(s * f)
            x0, y0 = int((w - c) * fx), int((h - c) * fy)
            a = im.crop((x0, y0, x0 + c, y0 + c)).resize((224, 224), Image.BILINEAR)
            t = torch.tensor(list(a.getdata()), dtype=torch.float32).view(224, 224, 3) / 255.0
            t = (t - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
            out.append(t.permute(2, 0, 1))
    return torch.stack(out)


def features(m, x):
    """The pooled features that feed m.fc."""
    fc = m.fc
    m.fc = torch.nn.Identity()
    try:
        return m(x)
    finally:
        m.fc = fc


def main():
    args = sys.argv[1:]
    seed = 0
    plain = "--plain" in args
    if plain:
        args.remove("--plain")
    if "--seed" in args:
        i = args.index("--seed")
        seed = int(args[i + 1])
        del args[i:i + 2]
    if len(args) != 2:
        sys.exit(__doc__)
    torch.save((make_plain if plain else make)(args[0], seed).state_dict(), args[1])


if __name__ == "__main__":
    main()
