"""Every GAN variant, one file each; importing this package registers them all by name."""

import importlib
import pkgutil

from gan_core.variants.base import (
    ROLES, Direction, GeneratorExport, ImageGenerator, PairedTranslator, TextToImageGenerator, TorchVariant,
    Translator, UnpairedTranslator, Variant, Vocoder, balanced_labels, build_variant, get_variant_class,
    variant_configs, variant_names,
)

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "ROLES", "Direction", "GeneratorExport", "ImageGenerator", "PairedTranslator", "TextToImageGenerator",
    "TorchVariant", "Translator", "UnpairedTranslator", "Variant", "Vocoder", "balanced_labels", "build_variant",
    "get_variant_class", "variant_configs", "variant_names",
]
