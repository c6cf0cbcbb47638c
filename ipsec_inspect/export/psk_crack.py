"""IKEv1 Aggressive Mode PSK parameters in the format ike-scan's ``psk-crack`` reads.

Why: in Aggressive Mode with a pre-shared key, the responder's HASH_R travels in the
clear together with everything it is computed from, so the PSK can be guessed offline
(audit rule V02). Writing the parameters lets an auditor prove the point with
``psk-crack``. The format is one line per SA: nine colon-separated hex fields
``g_xr:g_xi:cky_r:cky_i:sai_b:idir_b:ni_b:nr_b:hash_r`` (payload bodies without their
generic headers), as ike-scan's ``--pskcrack`` output writes them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from ipsec_inspect.lifecycle.tracker import TrackerResult


def psk_crack_lines(result: TrackerResult) -> list[str]:
    """One line per Aggressive Mode PSK SA whose messages 1 and 2 were both captured."""
    lines = []
    for sa in result.ike_sas.values():
        if sa.psk_crack is not None:
            lines.append(":".join(part.hex() for part in sa.psk_crack))
    return lines


def write_psk_crack(result: TrackerResult, fh: TextIO) -> int:
    """Write the lines; return how many SAs were written."""
    lines = psk_crack_lines(result)
    for line in lines:
        fh.write(line + "\n")
    return len(lines)
