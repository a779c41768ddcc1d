"""The phones behind the simulated dialplan's extensions, and how endpoints and caller ids read.

How long they ring, which keys they press and when, when they fall quiet: measured from the
reference traces (tests/reference/traces, traces-sip) and their recordings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ari_simulator.state import SimError

# When each key goes down, after the answer. SendDTMF(*7,250,120) after one 2 s play of the agent
# tone, *8 after the next: the key events (at each key's end) came 2.24 s, 2.61 s, 5.08 s and
# 5.46 s after the answer (answer_pause_transfer_hangup.jsonl).
LOCAL_2XXX_KEYS = ((2.121, "*"), (2.492, "7"), (4.964, "*"), (5.336, "8"))
# The handset's tone stops while SendDTMF runs (the dialplan steps at 2.02/2.86 s and 4.86/5.71 s
# after the answer; rec-agent-2001.wav holds only the customer then).
LOCAL_2XXX_QUIET = ((2.019, 2.862), (4.862, 5.707))
# SIPp phone 3003 sending RFC 4733 keys of 280 ms; events 2.14, 2.55, 4.55, 4.96 s after the
# answer (sip_dtmf_native_vs_snoop.jsonl).
SIP_3003_KEYS = ((1.863, "*"), (2.267, "7"), (4.272, "*"), (4.676, "8"))
# SIPp's voice starts 0.1 s after the answer and pauses around each key (rec-sip-dtmf-3003.wav).
SIP_3003_QUIET = ((0.0, 0.1), (2.06, 2.16), (2.42, 2.56), (4.42, 4.56), (4.82, 4.96))
SIP_RING_SECONDS = 0.306
CONSULT_SECONDS = 1.0  # how long an agent talks to the colleague before completing an attended transfer
DIAL_TIMEOUT = 30.0  # Dial()'s ring timeout for a consultation call
# Asterisk's own attended transfer (sip_attended_transfer_core.jsonl): from the REFER (the first
# leg's ChannelUnhold) to the link's StasisStart 0.506 s, and the phone's BYE of its first call
# 0.115 s after the link.
REFER_TO_LINK = 0.506
PHONE_BYE_AFTER_LINK = 0.115


@dataclass
class Phone:
    """How the phone behind an agent extension behaves when called."""

    answer: str = "auto"  # auto | never | busy
    delay: float = 0.0
    keys: tuple[tuple[float, str], ...] = ()
    quiet: tuple[tuple[float, float], ...] = ()  # (from, to) after the answer: not talking
    key_ms: int = 120


@dataclass
class Endpoint:
    tech: str  # Local | PJSIP
    resource: str  # exten for Local, endpoint name for PJSIP
    context: str = ""  # Local only
    trunk: str = ""  # PJSIP/<number>@<trunk>: the endpoint the number is dialled through


def parse_caller_id(text: str | None) -> tuple[str, str]:
    if not text:
        return ("", "")
    match = re.fullmatch(r'\s*"?([^"<]*?)"?\s*<([^>]*)>\s*', text)
    return (match.group(1), match.group(2)) if match else ("", text.strip())


def parse_endpoint(endpoint: str | None) -> Endpoint:
    if not endpoint:
        raise SimError(400, "Endpoint must be specified")
    tech, _, rest = endpoint.partition("/")
    if tech == "Local" and "@" in rest:
        exten, _, context = rest.partition("@")
        return Endpoint("Local", exten, context.split("/")[0])
    if tech == "PJSIP" and rest:
        # PJSIP/<ext>, or PJSIP/<number>@<trunk endpoint> (a customer an agent calls out to)
        number, _, trunk = rest.partition("@")
        return Endpoint("PJSIP", number, trunk=trunk)
    raise SimError(400, "Invalid endpoint specified")


def default_phone(exten: str, sip: bool) -> Phone | None:
    """The phone the reference dialplan has at `exten`, if any."""
    if sip and re.fullmatch(r"\d+", exten):
        # The traces' SIPp phones: 3001 answers at once, the others ring first; 3003 presses keys.
        if exten == "3003":
            return Phone(delay=SIP_RING_SECONDS, keys=SIP_3003_KEYS, key_ms=280, quiet=SIP_3003_QUIET)
        return Phone(delay=0.0 if exten == "3001" else SIP_RING_SECONDS)
    if re.fullmatch(r"1\d{3}", exten):
        return Phone()
    if re.fullmatch(r"2\d{3}", exten):
        return Phone(keys=LOCAL_2XXX_KEYS, quiet=LOCAL_2XXX_QUIET)
    return None
