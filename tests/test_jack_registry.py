"""jack2 frees a killed server's slot in its shared registry only when a server of the same name
starts again; the rigs and the simulator name theirs uniquely, so killed runs used to fill the 8
slots until no JACK server could start ("Too many servers already active")."""

import os
import subprocess
import sys

from promptsynth.sim import JACK_SERVER_AT, JACK_SERVER_SIZE, JACK_SERVERS, reclaim_jack_servers


def registry(tmp_path, pids):
    head = bytearray(b"KCAJ" + bytes(JACK_SERVER_AT - 4 + JACK_SERVERS * JACK_SERVER_SIZE) + bytes(64))
    for i, pid in enumerate(pids):
        at = JACK_SERVER_AT + i * JACK_SERVER_SIZE
        head[at : at + 4] = pid.to_bytes(4, "little")
        head[at + 4 : at + 24] = b"jack-0:psynth%d:" % pid
    path = tmp_path / "jack-shm-registry"
    path.write_bytes(bytes(head))
    return path


def test_the_slots_of_dead_servers_are_freed_and_live_ones_kept(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # reaped: its pid names no process now
    path = registry(tmp_path, [dead.pid, os.getpid(), 0, dead.pid])
    assert reclaim_jack_servers(str(path)) == 2
    b = path.read_bytes()
    slot = [b[JACK_SERVER_AT + i * JACK_SERVER_SIZE : JACK_SERVER_AT + (i + 1) * JACK_SERVER_SIZE] for i in range(4)]
    assert slot[0] == slot[3] == bytes(JACK_SERVER_SIZE)  # freed whole
    assert int.from_bytes(slot[1][:4], "little") == os.getpid() and b"psynth" in slot[1]  # kept
    assert reclaim_jack_servers(str(path)) == 0  # nothing left to free
    assert reclaim_jack_servers(str(tmp_path / "absent")) == 0
    other = tmp_path / "other"
    other.write_bytes(b"not a registry" + bytes(3000))
    assert reclaim_jack_servers(str(other)) == 0 and other.read_bytes()[:14] == b"not a registry"
