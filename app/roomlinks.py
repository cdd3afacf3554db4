"""Links for a room: the addresses a lecturer copies onto a slide must open on the students' machines.

A lecturer prepares a lecture in a browser on the serving machine, at ``http://localhost:8501``; a link built
from that address names the students' own machines, where nothing answers. When the server listens on the
network (Streamlit's default) the shared links therefore name this machine's network address instead, and the
page says so; when it listens on this machine only, the links stay as they are and the page says how to open
the server to the room (README, "The Train page, and a room full of students"). Each link also comes as a QR code,
for a slide, or for the room to scan off the projector.
"""

from __future__ import annotations

import functools
import io
import socket
from urllib.parse import urlsplit, urlunsplit

import segno
import streamlit as st

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
# Any routable address: connecting a UDP socket to it sends nothing, it only picks the interface (and so the
# address) this machine would use to reach the network.
ROUTE_PROBE = ("10.255.255.255", 1)
OPEN_TO_ROOM = "streamlit run streamlit_app.py --server.address 0.0.0.0"
QR_SCALE = 4  # pixels per QR module: a step's link is a 164-260 px code (versions 5-11), as a phone reads it on a slide
QR_BORDER = 2  # quiet zone, in modules
PROJECTOR_QR_PX = 320  # the lesson note's code, scanned off the projector from the back of a room


def network_address() -> str | None:
    """This machine's IPv4 address on its network, or None without one (no network, or only loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(ROUTE_PROBE)
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if is_loopback(address) or address == "0.0.0.0" else address


def is_loopback(host: str | None) -> bool:
    return bool(host) and (host in LOOPBACK_HOSTS or host.startswith("127."))


def shared_url(url: str, listen: str | None, address: str | None) -> tuple[str, str | None]:
    """(the address to put on a slide, a note for the lecturer or None) for the browser's own ``url``, a server
    listening on ``listen`` (Streamlit's ``server.address``; empty: every interface) on a machine whose network
    address is ``address``."""
    parts = urlsplit(url)
    if not is_loopback(parts.hostname):
        return url, None
    if is_loopback(listen):
        return url, (f"This server listens on this machine only ({listen}), so these links open here and nowhere "
                     f"else. For a room, restart it with `{OPEN_TO_ROOM}` and share this machine's network address.")
    if not address:
        return url, ("These links name this machine's own loopback address, which opens here only, and this "
                     "machine has no network address to use instead: connect it to the room's network to share them.")
    netloc = f"{address}:{parts.port}" if parts.port else address
    return urlunsplit(parts._replace(netloc=netloc)), (
        f"The links name this machine's network address, {address}, so students on its network can open them; "
        f"this browser's own {parts.hostname} opens on this machine only.")


WILDCARDS = ("", "0.0.0.0", "::")  # listen on every interface


def room_url(url: str | None, listen: str | None) -> tuple[str, str | None]:
    """``shared_url`` for this server: the browser's address (``st.context.url``) and ``server.address`` (a
    server bound to one network address is reached there; else this machine's address on its network)."""
    listen = (listen or "").strip()
    address = listen if listen not in WILDCARDS and not is_loopback(listen) else network_address()
    return shared_url(url or "http://localhost:8501", listen, address)


@functools.lru_cache(maxsize=256)
def qr_svg(url: str) -> str:
    """A QR code of ``url`` as SVG markup, for a slide or for the room to scan off the projector (error correction
    level M: about 15% of a code may be lost to glare and still read)."""
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=QR_SCALE, border=QR_BORDER, xmldecl=False)
    return out.getvalue().decode()


def session_room_url() -> tuple[str, str | None]:
    """``room_url`` of this session: its browser's address (``st.context.url``: the page's path, no query) and this
    server's ``server.address``."""
    return room_url(st.context.url, st.get_option("server.address"))


def app_base() -> tuple[str, str | None]:
    """This app's address for links on slides (scheme, host, port and base path: the room's address where the
    browser's is this machine's own), and a note on it for the lecturer, or None."""
    url, note = session_room_url()
    parts = urlsplit(url)
    base = str(st.get_option("server.baseUrlPath") or "").strip("/")
    return f"{parts.scheme}://{parts.netloc}" + (f"/{base}" if base else ""), note
