"""What the explainer pages teach: convolution and pooling traces, receptive fields, presets (numpy, no torch at import)."""
