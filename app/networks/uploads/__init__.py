"""An uploaded `.keras` file, checked before Keras sees any of it.

Keras' safe mode alone is not enough: it has been bypassed again and again (CVE-2025-1550
through a module named in config.json, CVE-2025-8747 and CVE-2025-9906 through allowed
Keras functions, CVE-2025-9905 because HDF5 files ignore it, CVE-2026-1462 through
TFSMLayer, CVE-2026-12481 through Lambda). So an upload is hostile until proven otherwise:

1. the bytes: at most CNNPG_MAX_MODEL_UPLOAD_BYTES; HDF5 (`.h5`) is refused by its name and
   its signature; it must be a zip;
2. the zip: exactly `metadata.json`, `config.json` and `model.weights.h5`, unencrypted,
   expanding to at most CNNPG_MAX_MODEL_EXPANDED_BYTES (declared sizes checked before
   anything is read, and each member read no further than its declared size);
3. `config.json`: a Sequential or Functional model of the `keras.layers` classes in
   `LAYERS`, each called once, whose arguments are plain values or Keras' own
   initializers, regularizers, constraints and dtype policies; activations by name from
   `ACTIVATIONS`; no module outside Keras anywhere, no registered or custom objects, no
   functions, no Lambda;
4. the weights: plain HDF5 datasets only (no external storage, external or soft links,
   virtual datasets), at most CNNPG_MAX_PARAMS numbers in the layers;
5. only then is a fresh archive of exactly the checked bytes (its compile settings left
   out) loaded, with `safe_mode=True` all the same, and the model's input (one H×W×C
   image, C 1 or 3) and output (one vector of class probabilities) are checked.
"""

from app.networks.uploads.limits import CheckedModel, Refused, UploadLimits
from app.networks.uploads.loading import check_upload, limits_from, register_upload

__all__ = ["CheckedModel", "Refused", "UploadLimits", "check_upload", "limits_from",
           "register_upload"]
