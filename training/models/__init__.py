"""FACEGAN networks: LT and La (lt.py), Gr (gr.py), Gb (gb.py), the discriminator; one config dataclass each."""

from training.models.discriminator import DiscConfig, MultiScaleDiscriminator, disc_config
from training.models.gb import BackgroundMixer, GbConfig, gb_config, gb_full, gb_lite
from training.models.gr import FaceReenactor, GrConfig, draw_heatmap, gr_config, gr_full, gr_lite
from training.models.lt import AURegressor, LaConfig, LandmarkTransformer, LTConfig
from training.models.unet import MODEL_VARIANTS, UNET_PRESETS, ModelVariant, UNet, UNetConfig

__all__ = [
    "MODEL_VARIANTS",
    "UNET_PRESETS",
    "AURegressor",
    "BackgroundMixer",
    "DiscConfig",
    "FaceReenactor",
    "GbConfig",
    "GrConfig",
    "LTConfig",
    "LaConfig",
    "LandmarkTransformer",
    "ModelVariant",
    "MultiScaleDiscriminator",
    "UNet",
    "UNetConfig",
    "disc_config",
    "draw_heatmap",
    "gb_config",
    "gb_full",
    "gb_lite",
    "gr_config",
    "gr_full",
    "gr_lite",
]
