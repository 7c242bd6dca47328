"""core.learn.task: what a model reads, the task's head and recipe, saved and read back."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from core.data import shipped as data
from core.errors import UserInputError
from core.learn import task as tasks
from core.learn.classify import Preprocess
from core.learn.train import DEFAULT_RECIPES, Recipe


@pytest.fixture(scope="module")
def digits():
    return data.load("digits")


@pytest.fixture(scope="module")
def notes():
    return data.synth_instruments(n_per_class=4)  # 24 one-second clips at 16 kHz


@pytest.mark.parametrize(
    ("preset", "reads"),
    [("digits_cnn", tasks.Reads("image")), ("lenet5", tasks.Reads("image", pad=2)),
     ("tiny_resnet", tasks.Reads("image"))],
)  # fmt: skip
def test_a_picture_preset_reads_what_it_declares(digits, preset, reads):
    assert tasks.reads_for_preset(digits, preset) == reads
    inputs = tasks.inputs_for(digits, reads)
    assert tuple(inputs.x.shape[1:]) == tasks.input_shape_of(digits, reads)
    if reads.pad:  # LeNet-5: a 2-pixel zero border, the digit itself untouched
        assert tuple(inputs.x.shape[1:]) == (1, 32, 32) and inputs.pad == 2
        torch.testing.assert_close(inputs.x[:5, :, 2:-2, 2:-2], torch.as_tensor(digits.x[:5]))
        assert float(inputs.x[:, :, :2].abs().sum()) == 0.0


def test_an_audio_preset_on_a_1d_input_reads_waveforms(notes):
    assert tasks.reads_for_preset(notes, "m5") == tasks.Reads("waveform")
    assert tasks.reads_for_preset(notes, "timbre_cnn") == tasks.Reads("log-mel")
    wave = tasks.inputs_for(notes, tasks.Reads("waveform"))
    np.testing.assert_array_equal(wave.x[:, 0].numpy(), notes.x)  # (N, 1, T): the samples
    mel = tasks.inputs_for(notes, tasks.Reads("log-mel"))
    assert tuple(mel.x.shape[1:]) == tasks.input_shape_of(notes, tasks.Reads("log-mel"))
    assert tuple(mel.x.shape[1:]) == (1, 64, 101)
    with pytest.raises(UserInputError, match="Only pictures get a border"):
        tasks.Reads("log-mel", pad=2)


def test_a_builder_shape_finds_its_reading_or_says_why(digits, notes):
    assert tasks.reads_for_shape(digits, (1, 32, 32)) == tasks.Reads("image", pad=2)
    assert tasks.reads_for_shape(digits, (1, 28, 28)) == tasks.Reads("image")
    assert tasks.reads_for_shape(notes, (1, 16000)) == tasks.Reads("waveform")
    assert tasks.reads_for_shape(notes, (1, 64, 101), "log-mel") == tasks.Reads("log-mel")
    with pytest.raises(UserInputError, match=r"shape \(1, 64, 64\), which this dataset"):
        tasks.reads_for_shape(digits, (1, 64, 64))


def test_the_recipe_is_the_tuned_default_changed_field_by_field(notes):
    commands = replace(notes, name="commands")
    recipe = tasks.recipe_for(commands, "log-mel", epochs=3)
    assert recipe == replace(DEFAULT_RECIPES["commands"], epochs=3)
    assert (recipe.freq_mask, recipe.time_mask, recipe.time_shift) == (6, 10, 0.05)
    # a waveform model trained on the commands' recipe gets waveform augmentation
    assert tasks.recipe_for(commands, "waveform").augment == "waveform"
    own = replace(notes, name="your data")  # your own clips start from the commands recipe
    assert tasks.recipe_for(own, "log-mel") == DEFAULT_RECIPES["commands"]
    with pytest.raises(UserInputError, match="A learning rate of 1e\\+06 cannot be used"):
        tasks.recipe_for(commands, "log-mel", lr=1e6)
    with pytest.raises(UserInputError, match="A batch size of 100,000 cannot be used"):
        replace(recipe, batch_size=100_000)  # a Recipe is checked however it is made
    with pytest.raises(UserInputError, match="no setting colour"):
        tasks.recipe_for(commands, "log-mel", colour="red")


def test_a_cuda_device_gets_the_gpu_recipe_and_changes_still_apply(notes):
    from core.learn.train import GPU_RECIPES, default_recipe

    commands = replace(notes, name="commands")
    assert default_recipe("digits", "cuda") == GPU_RECIPES["digits"] != DEFAULT_RECIPES["digits"]
    assert default_recipe("digits", "cpu") == default_recipe("digits") == DEFAULT_RECIPES["digits"]
    on_gpu = tasks.recipe_for(commands, "log-mel", device="cuda", epochs=3)
    assert on_gpu == replace(GPU_RECIPES["commands"], epochs=3)
    assert on_gpu.batch_size > DEFAULT_RECIPES["commands"].batch_size
    assert tasks.recipe_for(commands, "waveform", device="cuda").augment == "waveform"
    for name, gpu in GPU_RECIPES.items():  # the same training, only batched for a GPU
        cpu = DEFAULT_RECIPES[name]
        assert replace(gpu, batch_size=32, lr=cpu.lr, epochs=cpu.epochs) == cpu


def test_a_task_refuses_a_head_or_augmentation_that_does_not_fit():
    pre = Preprocess("image", image_shape=(1, 28, 28))
    names = tuple("abc")
    with pytest.raises(UserInputError, match="One sigmoid output tells two classes apart"):
        tasks.Task("digits", names, (1, 28, 28), pre, Recipe(), head="sigmoid")
    with pytest.raises(UserInputError, match="cannot be trained with spectrogram"):
        tasks.Task("digits", names, (1, 28, 28), pre, Recipe(augment="spectrogram"))
    task = tasks.Task("digits", names, (1, 28, 28), pre, Recipe())
    assert task.with_recipe(augment="spectrogram").recipe.augment == "image"


def test_a_builder_model_fits_the_two_class_task(digits):
    """A Model builder model made for the ten digits learns 3 against 8 with one sigmoid."""
    builder = {
        "spec": [
            {"type": "conv2d", "filters": 4, "kernel_size": 3, "activation": "relu"},
            {"type": "maxpool2d", "kernel_size": 4},
            {"type": "flatten"},
            {"type": "dense", "units": 10},
        ],
        "input_shape": (1, 28, 28),
        "dataset": "digits",
        "name": "mine",
    }
    inputs = tasks.inputs_for(digits, tasks.reads_for_shape(digits, builder["input_shape"]))
    plan = tasks.plan_builder(digits, inputs, builder, classes=(3, 8))
    assert plan.task.head == "sigmoid" and plan.task.class_names == ("3", "8")
    assert plan.spec[-1] == {"type": "dense", "units": 1} and plan.summary.output_shape == (1,)
    assert "had 10 outputs; for this task it gets one output" in plan.note
    assert plan.spec[:-1] == builder["spec"][:-1]  # everything before the head as built
    plan = plan.with_recipe(epochs=6, batch_size=32, augment="none", lr=1e-2)
    from core.learn import runs

    run = runs.start_training(plan, "cpu", dataset=digits, queue=runs.RunQueue(max_running=1))
    assert run.wait(120)
    snap = run.snapshot()
    assert snap.status == "done" and snap.verdict == "finished", snap.message
    assert run.test.accuracy > 0.9  # 3 and 8 are told apart
    assert run.info.params == plan.summary.torch_params and run.task is plan.task
    np.testing.assert_array_equal(run.info.y_test, (digits.y[run.info.test_index] == 8))


def test_a_saved_task_is_read_back_and_the_bundle_classifies(digits):
    from core.learn.build import build_model
    from core.learn.checkpoints import load_bundle
    from core.learn.classify import classify_image

    inputs = tasks.inputs_for(digits, tasks.reads_for_preset(digits, "lenet5"))
    plan = tasks.plan_preset(digits, inputs, "lenet5").with_recipe(epochs=2)
    torch.manual_seed(0)
    model = build_model(plan.spec, plan.task.input_shape, logits=True).eval()
    bundle = load_bundle(plan.task.save(model, spec=plan.spec))
    assert tasks.Task.from_dict(bundle.task) == plan.task  # recipe, border, head: all of it
    assert bundle.input_shape == (1, 32, 32) and bundle.head == "softmax"
    pre = Preprocess.from_dict(bundle.features)
    assert pre == plan.task.preprocess and pre.pad == 2
    pred = classify_image(bundle.model, digits.x[7, 0], pre=pre, class_names=bundle.class_names)
    with torch.no_grad():
        direct = torch.softmax(model(inputs.x[7:8]), dim=1)[0].numpy()
    np.testing.assert_allclose(pred.probs, direct, atol=1e-5)
    with pytest.raises(UserInputError, match="saved task is not readable"):
        tasks.Task.from_dict({"dataset": "digits"})
