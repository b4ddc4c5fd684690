"""Reference vectors for san-models' ResNet: a tiny ResNet in torchvision's layout and key
names (blocks [1, 1, 1, 1], width 4), written in plain PyTorch, with random weights and
batch-norm statistics, evaluated in eval mode.

Writes crates/san-models/tests/fixtures/resnet_tiny.safetensors (the state_dict, with an
`fc` classifier and `num_batches_tracked` buffers as torchvision has them) and
resnet_tiny_io.safetensors (`input` [2, 3, 32, 32] and `output` [2, 32], the pooled
features before `fc`).

Run: python3 scripts/reference/resnet_tiny.py  (torch and safetensors)
"""
import pathlib

import torch
from torch import nn
from safetensors.torch import save_file


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        skip = x if self.downsample is None else self.downsample(x)
        return torch.relu(y + skip)


class TinyResNet(nn.Module):
    def __init__(self, width=4):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        c = width
        for s in range(4):
            out = width << s
            setattr(self, f"layer{s + 1}", nn.Sequential(Block(c, out, 1 if s == 0 else 2)))
            c = out
        self.fc = nn.Linear(c, 10)

    def features(self, x):
        x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
        for s in range(4):
            x = getattr(self, f"layer{s + 1}")(x)
        return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)


torch.manual_seed(0)
net = TinyResNet()
with torch.no_grad():
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.2, 0.2)
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 2.0)
net.eval()
x = torch.randn(2, 3, 32, 32)
with torch.no_grad():
    y = net.features(x)
out = pathlib.Path(__file__).resolve().parents[2] / "crates/san-models/tests/fixtures"
out.mkdir(parents=True, exist_ok=True)
save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(out / "resnet_tiny.safetensors"))
save_file({"input": x, "output": y}, str(out / "resnet_tiny_io.safetensors"))
print(sorted(net.state_dict().keys())[:8], y.shape, float(y.abs().sum()))
