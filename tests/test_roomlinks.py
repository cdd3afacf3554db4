"""Links for a room (``app/roomlinks.py``): a link the lecturer copies onto a slide names an address the students'
machines can open, never this machine's loopback, and the Lessons page says which address it used and why."""

from __future__ import annotations

import base64
import ipaddress
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app import roomlinks

APP = Path(__file__).resolve().parents[1] / "streamlit_app.py"


def shown_svgs(at: AppTest) -> list[str]:
    """The SVG markup of every image the page drew (st.image sends an SVG as a base64 data URL)."""
    return [base64.b64decode(i.proto.imgs[0].url.split(",", 1)[1]).decode() for i in at.get("image")]


@pytest.mark.parametrize("browser", ["http://localhost:8501/train", "http://127.0.0.1:8501/train",
                                     "http://[::1]:8501/train"])
def test_a_loopback_address_becomes_the_network_address_when_the_server_listens_on_the_network(browser):
    url, note = roomlinks.shared_url(browser, "", "192.168.1.5")
    assert url == "http://192.168.1.5:8501/train" and "192.168.1.5" in note and "students" in note


def test_an_address_students_can_already_open_is_kept_without_a_note():
    assert roomlinks.shared_url("http://10.0.0.2:8501/train", "", "192.168.1.5") == (
        "http://10.0.0.2:8501/train", None)
    assert roomlinks.shared_url("https://lab.example.org/mambarec/train", "", None) == (
        "https://lab.example.org/mambarec/train", None)


def test_a_server_on_loopback_only_keeps_the_link_and_says_how_to_open_it_to_the_room():
    url, note = roomlinks.shared_url("http://localhost:8501/", "127.0.0.1", "192.168.1.5")
    assert url == "http://localhost:8501/" and roomlinks.OPEN_TO_ROOM in note
    url, note = roomlinks.shared_url("http://localhost:8501/", "", None)  # no network at all
    assert url == "http://localhost:8501/" and "opens here only" in note


def test_a_server_bound_to_one_address_is_named_by_it():
    url, _ = roomlinks.room_url("http://localhost:8501/x", "192.168.7.7")
    assert url == "http://192.168.7.7:8501/x"


def test_this_machines_network_address_is_a_routable_ipv4_or_none(monkeypatch):
    address = roomlinks.network_address()  # this machine's, whatever its network: one of the two answers
    assert address is None or (ipaddress.ip_address(address).version == 4
                                and not ipaddress.ip_address(address).is_loopback)

    class Socket:  # each answer for sure (the line above passes on any machine without a network: audit r57)
        def __init__(self, *args):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def connect(self, where):
            if found is None:
                raise OSError("Network is unreachable")

        def getsockname(self):
            return (found, 54321)

    monkeypatch.setattr(roomlinks.socket, "socket", Socket)
    for found, expected in (("192.168.1.5", "192.168.1.5"), ("127.0.1.1", None), ("0.0.0.0", None), (None, None)):
        assert roomlinks.network_address() == expected, found


def test_the_lessons_step_links_use_the_rooms_address(monkeypatch, tmp_path):
    monkeypatch.setenv("MAMBAREC_RUNS", str(tmp_path))
    at = AppTest.from_file(str(APP), default_timeout=300).run()  # AppTest's browser address: none, so localhost
    assert not at.exception and at.title[0].value == "Lessons"
    base, note = roomlinks.room_url(None, "")
    links = [c.value for c in at.code]  # each step's link with a copy button, under its QR code in the pop-up
    # and in its card as text: a code block there made each visitor's browser load Streamlit's code highlighter
    assert [m.value for m in at.markdown if m.value.startswith("`http")] == [f"`{link}`" for link in links]
    assert links and all(link.startswith(base.rstrip("/") + "/") for link in links)
    assert note in [c.value.removeprefix(":material/co_present: ") for c in at.caption]
    assert all("localhost" not in link for link in links) or roomlinks.network_address() is None
    # each step's QR code (in its card's popover) is the code of the link printed under it
    codes = shown_svgs(at)
    assert codes == [roomlinks.qr_svg(link) for link in links]


def test_a_qr_code_is_svg_of_the_link_with_a_scannable_size():
    import segno

    link = "http://192.168.1.5:8501/compare?dataset=ml100k&cells=paper,no_alignment&ref=paper&tab=Plots&step=x.1"
    svg = roomlinks.qr_svg(link)
    assert svg.startswith("<svg") and "<?xml" not in svg
    code = segno.make(link, error="m")
    side = (code.symbol_size(scale=roomlinks.QR_SCALE, border=roomlinks.QR_BORDER))[0]
    assert f'width="{side}"' in svg and 120 <= side <= 260  # a phone reads it off a projector; it fits a popover


def test_a_lesson_steps_note_carries_the_steps_qr_code(monkeypatch, tmp_path):
    """During the lecture the step's page is on the projector: its note holds the step's link as a QR code, so
    the room can open the same step on their own screens."""
    from app import lessons_content as L

    monkeypatch.setenv("MAMBAREC_RUNS", str(tmp_path))
    lesson = L.LESSON_IDS["parts"]
    at = AppTest.from_file(str(APP), default_timeout=300).run()
    at.query_params.update(L.step_query(lesson, 1))
    at.switch_page(L.PAGES[lesson.steps[1].page][0]).run()
    assert not at.exception and "step\u00a02\u00a0of" in "\n".join(m.value for m in at.markdown)
    link = L.step_url(roomlinks.room_url(None, "")[0], lesson, 1)  # AppTest's browser address: none, so localhost
    codes = shown_svgs(at)
    assert roomlinks.qr_svg(link) in codes and link in [c.value for c in at.code]
