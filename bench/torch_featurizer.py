"""torch_featurizer.py -- the PyTorch baseline for bench_featurizer, single thread.

    /usr/bin/python3 bench/torch_featurizer.py [--images N] [--size S]... [DATA_DIR]

Same images as build/bench/bench_featurizer (every k-th of the sorted Fruits-360 Test
JPEGs, read into memory first), same work: decode (PIL), resize to S x S (bilinear,
antialiased like ours), normalise, torchvision MobileNetV2 `.features` + global average
pool, at S = 224 and S = 100 (or the sizes given). The weights are random: speed does not
depend on their values. Timed in batches of 1 and of 16 (after a warm-up on a few batches,
best of two passes); the better batch size is reported, both for the whole pipeline and for
the network alone.
Prints `key=value` lines for bench/section_10_featurizer.sh.
"""
import argparse
import glob
import io
import os
import time

import torch
import torchvision
from PIL import Image

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def load_images(data_dir, want):
    paths = sorted(glob.glob(os.path.join(data_dir, "*", "*.jpg")))
    step = max(1, len(paths) // want)
    out = []
    for p in paths[::step][:want]:
        with open(p, "rb") as f:
            out.append(f.read())
    return out


def preprocess(jpeg, size):
    img = Image.open(io.BytesIO(jpeg)).convert("RGB")
    if img.size != (size, size):
        img = img.resize((size, size), Image.BILINEAR)
    x = torchvision.transforms.functional.pil_to_tensor(img).float().div_(255)
    return (x - MEAN) / STD


def run(model, images, size, batch, include_preprocess):
    """Seconds for one pass over images, in batches."""
    inputs = None if include_preprocess else [preprocess(j, size) for j in images]
    t0 = time.perf_counter()
    for i in range(0, len(images), batch):
        if include_preprocess:
            xs = [preprocess(j, size) for j in images[i:i + batch]]
        else:
            xs = inputs[i:i + batch]
        model(torch.stack(xs))
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--size", type=int, action="append", dest="sizes")
    shared = os.environ.get("SHARED") or "../shared"
    ap.add_argument("data", nargs="?", default=os.path.join(shared, "data/fruits-360/Test"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    images = load_images(args.data, args.images)
    net = torchvision.models.mobilenet_v2(weights=None)
    model = torch.nn.Sequential(net.features, torch.nn.AdaptiveAvgPool2d(1),
                                torch.nn.Flatten()).eval()
    print(f"torch version={torch.__version__} threads={torch.get_num_threads()}")
    with torch.inference_mode():
        for size in args.sizes or (224, 100):
            result = {}
            for include in (True, False):
                best_rate, best_batch = 0.0, 0
                for batch in (1, 16):
                    run(model, images[:2 * batch], size, batch, include)  # warm-up
                    t = min(run(model, images, size, batch, include) for _ in range(2))
                    rate = len(images) / t
                    if rate > best_rate:
                        best_rate, best_batch = rate, batch
                result[include] = (best_rate, best_batch)
            print(f"torch size={size} images={len(images)} images_per_s={result[True][0]:.1f} "
                  f"batch={result[True][1]} net_images_per_s={result[False][0]:.1f} "
                  f"net_batch={result[False][1]}")


if __name__ == "__main__":
    main()
