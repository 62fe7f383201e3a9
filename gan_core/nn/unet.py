"""The U-Net generator of pix2pix (Isola et al. 2017, section 3.2.1 and appendix 6.1.1).

An encoder-decoder whose decoder layer i also receives encoder layer i's output (a skip connection), so detail
that the input and output share (edges, position) need not pass through the bottleneck. The paper's 256 px net
halves the size 8 times down to 1x1; scaled to S px, `depth` = log2(S) does the same (5 for 32 px).

encoder: C@S -> Conv4 s2 b -> [LReLU Conv4 s2 BN] 2b, 4b, 8b, 8b, ... -> LReLU Conv4 s2 (1x1, no norm)
decoder: [ReLU ConvT4 s2 BN (Dropout 0.5 on the 3 innermost)] on cat(previous, skip) -> ReLU ConvT4 s2 -> tanh
(b = base_channels, widths capped at 8b as in the paper; LeakyReLU slope 0.2)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gan_core.nn.patchgan import Norm, norm_layer


class UNet(nn.Module):
    """(B, in_channels, S, S) -> (B, out_channels, S, S) in [-1, 1], S divisible by 2**depth."""

    def __init__(self, in_channels: int, out_channels: int, depth: int, base_channels: int = 64,
                 dropout: float = 0.5, dropout_layers: int = 3, norm: Norm = "batch") -> None:
        super().__init__()
        widths = [base_channels * min(2 ** i, 8) for i in range(depth)]  # encoder outputs, outermost first
        self.down = nn.ModuleList()
        for i, width in enumerate(widths):
            outermost, innermost = i == 0, i == depth - 1
            layers: list[nn.Module] = [] if outermost else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(in_channels if outermost else widths[i - 1], width, 4, 2, 1,
                                    bias=outermost or innermost))
            if not (outermost or innermost):
                layers.append(norm_layer(norm, width))
            self.down.append(nn.Sequential(*layers))
        self.up = nn.ModuleList()  # innermost first, the order in which forward runs them
        for i in reversed(range(depth)):
            outermost, innermost = i == 0, i == depth - 1
            width_in = widths[i] if innermost else 2 * widths[i]  # the skip doubles the input
            width_out = out_channels if outermost else widths[i - 1]
            layers = [nn.ReLU(), nn.ConvTranspose2d(width_in, width_out, 4, 2, 1, bias=outermost)]
            if outermost:
                layers.append(nn.Tanh())
            else:
                layers.append(norm_layer(norm, width_out))
                if depth - 1 - i < dropout_layers:
                    layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))

    def forward(self, x: Tensor) -> Tensor:
        skips = []
        for down in self.down:
            x = down(x)
            skips.append(x)
        skips.pop()  # the innermost output is the decoder's input, not a skip
        x = self.up[0](x)
        for up, skip in zip(self.up[1:], reversed(skips)):
            x = up(torch.cat([x, skip], dim=1))
        return x
