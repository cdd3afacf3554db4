"""Links for a room (``app/roomlinks.py``): a link the lecturer copies onto a slide names an address the students'
machines can open, never this machine's loopback, and the Lessons page says which address it used and why."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app import roomlinks

APP = Path(__file__).resolve().parents[1] / "streamlit_app.py"


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


def test_this_machines_network_address_is_a_routable_ipv4_or_none():
    address = roomlinks.network_address()
    assert address is None or (ipaddress.ip_address(address).version == 4
                                and not ipaddress.ip_address(address).is_loopback)


def test_the_lessons_step_links_use_the_rooms_address(monkeypatch, tmp_path):
    monkeypatch.setenv("MAMBAREC_RUNS", str(tmp_path))
    at = AppTest.from_file(str(APP), default_timeout=300).run()  # AppTest's browser address: none, so localhost
    assert not at.exception and at.title[0].value == "Lessons"
    base, note = roomlinks.room_url(None, "")
    links = [c.value for c in at.code]
    assert links and all(link.startswith(base.rstrip("/") + "/") for link in links)
    assert note in [c.value.removeprefix(":material/co_present: ") for c in at.caption]
    assert all("localhost" not in link for link in links) or roomlinks.network_address() is None
