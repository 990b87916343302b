"""ognet: person re-identification in the 3D space (OG-Net, Zheng et al., TNNLS).

The library is organised like timm / torchreid:

- ``ognet.models``   OG-Net family behind a registry (``create_model``), per-layer traces
- ``ognet.ops``      graph operations: farthest point sampling, knn, grouping
- ``ognet.body``     the free SMPL-format body model and its loader (through ``smplx``)
- ``ognet.lift``     2D photo -> colored 3D point cloud (``lift_image``)
- ``ognet.data``     Market-1501-format datasets of images or lifted clouds
- ``ognet.metrics``  CMC / mAP under the Market-1501 protocol
- ``ognet.engine``   training loop, checkpoints (``load_model``)
- ``ognet.gallery``  ``GalleryIndex`` for exact cosine top-k search
- ``ognet.synth``    synthetic re-id dataset generator
- ``ognet.assets``   paths of the bundled demo model and gallery

``ognet`` never imports ``viz`` or gradio. Heavy submodules load lazily.
"""

from ognet.models import create_model, list_models

__version__ = "0.1.0"


def load_model(path, device=None):
    """Rebuild a trained model from a ``.safetensors`` checkpoint and its JSON config.

    The model comes back in eval mode on ``device`` (default: CUDA when available, else CPU).
    """
    from ognet.engine.checkpoint import load_model as _load_model

    return _load_model(path, device=device)


__all__ = ["create_model", "list_models", "load_model", "__version__"]
