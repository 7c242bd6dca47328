"""Figures of a network's insides: the maps shown are the ones asked for, in the order asked."""

import numpy as np

from core.figures import inside as F


def test_maps_in_channel_order_or_strongest_first():
    maps = np.zeros((10, 4, 4))
    for c in range(10):
        maps[c] = c * (-1) ** c  # |strength| grows with the channel number
    fig, shown = F.maps_figure(maps, n=4)
    assert shown == [0, 1, 2, 3] and len(fig.data) == 4
    fig, shown = F.maps_figure(maps, n=4, order="strength")
    assert shown == [9, 8, 7, 6]
    np.testing.assert_array_equal(fig.data[0].z, maps[9])
    assert fig.data[0].zmin == -9 and fig.data[0].zmax == 9  # one colour scale for the row


def test_one_d_maps_and_filters_and_overlay():
    fig, shown = F.maps_figure(np.arange(12.0).reshape(3, 4), n=8)
    assert shown == [0, 1, 2] and np.asarray(fig.data[2].z).shape == (1, 4)
    w = np.arange(2 * 3 * 3 * 3, dtype=float).reshape(2, 3, 3, 3)
    ff = F.filters_figure(w)
    assert len(ff.data) == 2
    np.testing.assert_array_equal(ff.data[1].z, w[1, 0])  # input channel 0 of each filter
    ov = F.overlay_figure(np.ones((1, 5, 5)), np.eye(5))
    np.testing.assert_array_equal(ov.data[1].z, np.eye(5))
    assert ov.data[1].zmax == 1 and ov.data[1].opacity < 1


def test_a_pictures_square_maps_keep_square_pixels_and_a_log_mels_fill_the_width():
    fig, _ = F.maps_figure(np.random.default_rng(0).normal(size=(3, 7, 7)), n=3)
    anchors = [fig.layout[f"yaxis{'' if i == 1 else i}"].scaleanchor for i in (1, 2, 3)]
    assert anchors == ["x", "x2", "x3"]  # each map's rows as wide as its columns
    wide, _ = F.maps_figure(np.zeros((2, 64, 101)), n=2)
    assert wide.layout.yaxis.scaleanchor is None and wide.layout.yaxis2.scaleanchor is None


def test_an_attribution_over_a_picture_keeps_square_pixels_and_over_a_log_mel_does_not():
    picture = F.overlay_figure(np.ones((1, 28, 28)), np.eye(28))
    assert picture.layout.yaxis.scaleanchor == "x"  # Grad-CAM was stretched to about 2:1
    log_mel = F.overlay_figure(np.ones((1, 40, 101)), np.ones((40, 101)), audio=True)
    assert log_mel.layout.yaxis.scaleanchor is None


def test_the_channel_numbers_above_the_maps_have_room_in_presenter_mode():
    from core.figures import font_size

    for presenter in (False, True):
        fig, _ = F.maps_figure(np.zeros((3, 7, 7)), n=3, presenter=presenter)
        assert fig.layout.margin.t >= 1.5 * font_size(presenter)
        titled, _ = F.maps_figure(np.zeros((3, 7, 7)), n=3, title="conv", presenter=presenter)
        assert titled.layout.margin.t >= 3 * font_size(presenter)


def test_a_1d_layer_shows_every_channel_in_the_order_asked():
    maps = np.stack([np.full(6, c * (-1) ** c, dtype=float) for c in range(5)])
    fig = F.layer_1d_figure(maps)
    np.testing.assert_array_equal(fig.data[0].z, maps)
    assert list(fig.data[0].y) == ["0", "1", "2", "3", "4"]
    fig = F.layer_1d_figure(maps, order="strength")
    assert list(fig.data[0].y) == ["4", "3", "2", "1", "0"]  # rows keep their channel numbers
    np.testing.assert_array_equal(fig.data[0].z[0], maps[4])
    assert fig.data[0].zmin == -4 and fig.data[0].zmax == 4


def test_a_waveform_against_time_with_its_evidence_and_1d_kernels():
    wave = np.sin(np.arange(16_000) / 10.0)
    fig = F.wave_figure(wave, sample_rate=16_000, attr=np.linspace(-1, 1, 16_000))
    line, band = fig.data
    assert line.x[-1] < 1.0 and len(line.x) <= 4_001  # seconds, a line of at most ~4000 points
    np.testing.assert_allclose(line.y, wave[:: 16_000 // 4000])
    assert band.zmin == -1 and band.zmax == 1 and np.asarray(band.z).shape[0] == 1
    assert len(F.wave_figure(wave, sample_rate=16_000).data) == 1
    w = np.arange(3 * 1 * 7, dtype=float).reshape(3, 1, 7)  # three 1-D kernels of 7 taps
    ff = F.filters_figure(w)
    assert [d.type for d in ff.data] == ["scatter"] * 3
    np.testing.assert_array_equal(ff.data[2].y, w[2, 0])
