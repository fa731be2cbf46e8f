"""The khabar model: `KhabarConfig`, `KhabarModel`, `KhabarOutput`.

Importing this package registers the ``khabar`` model type with ``AutoConfig`` and ``AutoModel``,
so ``AutoModel.from_pretrained(directory)`` works without ``trust_remote_code``.
"""

from transformers import AutoConfig, AutoModel

from khabar.model.configuration import KhabarConfig
from khabar.model.modeling import KhabarModel, KhabarOutput


def _register() -> None:
    try:
        AutoConfig.register("khabar", KhabarConfig)
    except ValueError:  # already registered (module reloaded)
        pass
    try:
        AutoModel.register(KhabarConfig, KhabarModel)
    except ValueError:
        pass


_register()

__all__ = ["KhabarConfig", "KhabarModel", "KhabarOutput"]
