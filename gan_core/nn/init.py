"""The GANs' weight initialisation: N(0, 0.02), as Radford et al. (DCGAN, section 4) introduced it.

pix2pix, CycleGAN, StackGAN and MelGAN all inherit it from the DCGAN code. Use as `net.apply(normal_init)`;
it draws from torch's global stream, module by module in `apply`'s order, so a seed gives the same weights.
"""

from __future__ import annotations

from torch import nn

STD = 0.02
WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.Linear)
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def normal_init(module: nn.Module, zero_bias: bool = False) -> None:
    """Weights of convolutions and linear layers ~ N(0, 0.02); batch-norm scales ~ N(1, 0.02), shifts 0.
    `zero_bias`: their biases 0 too (CycleGAN, Zhu et al. appendix 7.1); else they keep torch's initialisation."""
    if isinstance(module, WEIGHTED):
        nn.init.normal_(module.weight, 0.0, STD)
        if zero_bias and module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, BATCH_NORMS) and module.affine:
        nn.init.normal_(module.weight, 1.0, STD)
        nn.init.zeros_(module.bias)
