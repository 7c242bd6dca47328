"""The app's pages in one list: app.py builds the navigation from it, the home page its links."""

from dataclasses import dataclass


@dataclass(frozen=True)
class PageInfo:
    section: str
    path: str
    title: str
    icon: str
    url_path: str
    blurb: str


PAGES = [
    PageInfo(
        "How a layer computes",
        "pages/convolution.py",
        "Convolution",
        ":material/grid_on:",
        "convolution",
        "A kernel slides over numbers you type: every multiplication and sum written out, "
        "with stride, padding and dilation; the same on a picture and on a 1-D signal.",
    ),
    PageInfo(
        "How a layer computes",
        "pages/pooling.py",
        "Pooling",
        ":material/view_module:",
        "pooling",
        "Max and average pooling step by step, the maximum marked; global average pooling.",
    ),
    PageInfo(
        "How a layer computes",
        "pages/transposed.py",
        "Transposed convolution",
        ":material/open_in_full:",
        "transposed",
        "The way back up: every input cell stamps the scaled kernel onto the output, padding "
        "crops it, output padding picks the size; the same as a convolution on a zero-inserted "
        "input.",
    ),
    PageInfo(
        "How a network is built",
        "pages/receptive_field.py",
        "Receptive field",
        ":material/center_focus_strong:",
        "receptive_field",
        "Stack convolution and pooling layers, pick any unit, and see exactly which input "
        "cells it can see, down to the input, on a picture and on a spectrogram.",
    ),
    PageInfo(
        "How a network is built",
        "pages/anatomy.py",
        "Architecture anatomy",
        ":material/account_tree:",
        "anatomy",
        "LeNet-5, AlexNet, VGG-16, ResNet, MobileNet blocks and the models trained here: every "
        "layer's output shape, parameters and cost, with PyTorch code to copy.",
    ),
    PageInfo(
        "Sound",
        "pages/audio.py",
        "Audio explorer",
        ":material/graphic_eq:",
        "audio",
        "Follow a clip (an example, your upload or a recording) from waveform to frames, "
        "spectrogram, mel filterbank and log-mel: every stage visible, audible and equal "
        "to librosa's.",
    ),
    PageInfo(
        "Your data",
        "pages/your_data.py",
        "Your own classes",
        ":material/mic:",
        "your_data",
        "Name your own classes, record or upload examples (or a zip of class folders), see "
        "each as the network will, and train on them.",
    ),
    PageInfo(
        "Train and use",
        "pages/model_builder.py",
        "Model builder",
        ":material/construction:",
        "model_builder",
        "Build a CNN layer by layer or from a preset, see every output shape, parameter "
        "count and the PyTorch code at once, and send it to training.",
    ),
    PageInfo(
        "Train and use",
        "pages/train.py",
        "Train",
        ":material/model_training:",
        "train",
        "Pick a dataset, a model and a recipe, press Train, and watch the loss and accuracy "
        "curves move while it learns; the best weights are kept.",
    ),
    PageInfo(
        "Train and use",
        "pages/evaluate.py",
        "Evaluate",
        ":material/fact_check:",
        "evaluate",
        "Test accuracy, the confusion matrix and the examples behind each cell; ROC curve and "
        "threshold for two-class tasks.",
    ),
    PageInfo(
        "Train and use",
        "pages/classify.py",
        "Ask your model",
        ":material/psychology_alt:",
        "classify",
        "Record or upload a clip (or a picture) and see what the trained model says, window "
        "by window for long clips; save it, load it back, export it to ONNX.",
    ),
    PageInfo(
        "Train and use",
        "pages/inside.py",
        "Inside the network",
        ":material/biotech:",
        "inside",
        "One input through a trained network: every layer's feature maps, the first layer's "
        "learned kernels, and the evidence for a prediction (Grad-CAM, occlusion) with its "
        "sanity checks.",
    ),
    PageInfo(
        "Teach",
        "pages/lecture.py",
        "Lecture",
        ":material/slideshow:",
        "lecture",
        "Collect views of any page into slides, order them, add notes, save the lecture as a "
        "small file, and present it full screen, each slide opening its page as it was.",
    ),
]
