"""In a real browser: two classes of clips uploaded, a model trained on them, a new clip asked."""

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import screenshot, wait_for_app

pytestmark = pytest.mark.browser


def tone(path, freq, seconds=0.6, sr=16000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = 0.4 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)
    sf.write(path, x.astype(np.float32), sr)
    return str(path)


def add_class(page, name):
    page.get_by_label("New class name").fill(name)
    page.get_by_role("button", name="Add class").click()
    wait_for_app(page)


def upload(page, index, files):
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').nth(index).set_input_files(files)
    wait_for_app(page)
    page.wait_for_timeout(500)
    wait_for_app(page)


def go(page, title):
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
    page.wait_for_timeout(500)
    wait_for_app(page)


def choose(page, label, option):
    page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first.click()
    page.wait_for_timeout(300)
    page.locator('[role="option"]').filter(has_text=option).first.click()
    wait_for_app(page)


def type_number(page, label: str, value) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    wait_for_app(page)


def ask(page, clip) -> str:
    """Upload ``clip`` on Ask your model; the sentence that gives the answer."""
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').last.set_input_files(clip)
    page.get_by_text("It says:").first.wait_for(timeout=60_000)
    wait_for_app(page)
    return page.get_by_text("It says:").first.inner_text()


def low_high_and_room(served_app, page, tmp_path, *, n: int, room_seconds: float) -> None:
    """On a fresh Your own classes page: classes low and high with ``n`` tones each, and
    ``room_seconds`` of room noise (uploaders: the zip (0), one per class (1, 2), the room
    noise (3), the project (4))."""
    page.goto(f"{served_app}/your_data")
    wait_for_app(page)
    add_class(page, "low")
    add_class(page, "high")
    upload(page, 1, [tone(tmp_path / f"low{i}.wav", 200 + 15 * i, seed=i) for i in range(n)])
    upload(page, 2, [tone(tmp_path / f"high{i}.wav", 2500 + 40 * i, seed=i) for i in range(n)])
    upload(page, 3, [tone(tmp_path / "room.wav", 50, seconds=room_seconds, seed=9)])


def test_own_classes_train_and_classify(served_app, page, tmp_path):
    page.goto(f"{served_app}/your_data")
    wait_for_app(page)
    add_class(page, "low")
    add_class(page, "high")
    # uploaders: the zip (0), then one per class in order
    upload(page, 1, [tone(tmp_path / f"low{i}.wav", 200 + 15 * i, seed=i) for i in range(6)])
    upload(page, 2, [tone(tmp_path / f"high{i}.wav", 2500 + 40 * i, seed=i) for i in range(6)])
    assert (
        page.get_by_text("low: 6 examples").count() + page.locator("text=6 examples").count() >= 1
    )
    screenshot(page, "your-data-1-classes")
    page.get_by_role("button", name="Use these classes for training").click()
    wait_for_app(page)
    assert page.get_by_text("Open the Train page").count() == 1

    # move within the app (a new URL would start a new session, without the classes)
    go(page, "Train")
    choose(page, "Dataset", "Your data")
    # your own classes start from the pretrained network; this walk trains the preset
    page.locator('[data-testid="stMain"]').get_by_text(
        "A preset, adapted to this data", exact=True
    ).click()
    wait_for_app(page)
    type_number(page, "Epochs", 6)
    page.get_by_role("button", name="Train", exact=True).click()
    page.wait_for_timeout(3000)
    screenshot(page, "your-data-2-training")
    page.get_by_text("Finished", exact=False).first.wait_for(timeout=120_000)
    wait_for_app(page)
    screenshot(page, "your-data-2-trained")

    go(page, "Ask your model")
    assert "low" in ask(page, tone(tmp_path / "new.wav", 230, seconds=2.0, seed=99))
    screenshot(page, "your-data-3-classified")


def test_room_noise_and_the_project_survive_a_reload(served_app, page, tmp_path):
    import json
    import zipfile

    low_high_and_room(served_app, page, tmp_path, n=4, room_seconds=6.2)
    page.get_by_text("6.2 s of room noise cut into 6 examples of 1 s").wait_for()
    assert page.get_by_text("background: 6 examples").count() == 1
    note = page.get_by_text("Your clips live in this browser tab until you download the project")
    assert note.count() == 1
    screenshot(page, "your-data-4-room-noise")

    with page.expect_download() as download:
        page.get_by_role("button", name="Download the project (.zip)").click()
    saved = tmp_path / "project.zip"
    download.value.save_as(saved)
    with zipfile.ZipFile(saved) as zf:
        manifest = json.loads(zf.read("project.json"))
    assert [(c["name"], len(c["files"])) for c in manifest["classes"]] == [
        ("low", 4), ("high", 4), ("background", 6)]  # fmt: skip

    page.reload()  # the clips are gone with the page ...
    wait_for_app(page)
    assert page.get_by_text("background: 6 examples").count() == 0
    upload(page, 2, str(saved))  # ... and come back from the file: zip, room noise, project
    page.get_by_text("Opened project.zip: 14 examples of 3 classes.").wait_for()
    assert page.get_by_text("background: 6 examples").count() == 1
    screenshot(page, "your-data-5-project-opened")


@pytest.mark.slow
def test_own_classes_with_room_noise_against_a_pretrained_network(served_app, page, tmp_path):
    """Your own classes with a background class, then the Train page's comparison of the
    default network from scratch with the pretrained audio network (frozen), in a worker."""
    low_high_and_room(served_app, page, tmp_path, n=8, room_seconds=8.2)
    page.get_by_text("background: 8 examples").wait_for()
    page.get_by_role("button", name="Use these classes for training").click()
    wait_for_app(page)

    go(page, "Train")
    choose(page, "Dataset", "Your data")
    main = page.locator('[data-testid="stMain"]')
    page.get_by_role(
        "heading", name="5. Compare with a pretrained network"
    ).scroll_into_view_if_needed()
    type_number(page, "Epochs for both", 3)
    page.get_by_role("button", name="Compare", exact=True).click()
    main.get_by_text("test accuracy", exact=False).first.wait_for(timeout=240_000)
    wait_for_app(page)
    text = main.inner_text()
    assert "from scratch" in text and "pretrained Google speech embedding (frozen)" in text
    assert page.locator('[data-testid="stException"]').count() == 0
    page.mouse.move(700, 5)  # no tooltip over the result
    page.wait_for_timeout(500)
    main.get_by_text("test accuracy", exact=False).first.scroll_into_view_if_needed()
    screenshot(page, "your-data-6-compare-pretrained")

    # then the pretrained network itself as the model: trained, and asked on Ask your model
    page.get_by_role("heading", name="2. Model").scroll_into_view_if_needed()
    main.get_by_text("A pretrained network with a new head", exact=True).click()
    wait_for_app(page)
    assert page.get_by_label("Learning rate", exact=True).input_value() == "0.01"
    # your own clips start from the speech network (aiSFX is the other choice)
    main.get_by_text("parameters train, 328,152 stay frozen", exact=False).wait_for()
    type_number(page, "Epochs", 5)
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text("Finished", exact=False).first.wait_for(timeout=240_000)
    wait_for_app(page)
    page.mouse.move(0, 0)
    screenshot(page, "your-data-7-pretrained-trained")
    assert page.locator('[data-testid="stException"]').count() == 0

    go(page, "Ask your model")
    main.get_by_text("Pretrained Google speech embedding (frozen)", exact=False).first.wait_for()
    assert "high" in ask(page, tone(tmp_path / "new.wav", 2_700, seconds=1.5, seed=99))
    screenshot(page, "your-data-8-pretrained-asked")
