"""One JACK MIDI client in a process of its own, driven over stdin/stdout by
``engine_harness.JackMidiPort``.

Why a process: a JACK client in the pytest process once deadlocked beside a loaded jackd (every
thread parked on a futex inside libjack), where no timeout can reach it and the whole run hung.
In a child, a stuck client is killed and the test fails with a message instead.

Protocol: one JSON object per line each way. The child prints ``{"ready": port_name}`` once its
port is active, then answers each command ``{"op": ...}`` with ``{"value": ...}`` or
``{"error": "..."}``.
"""

import collections
import json
import sys


def main(client_name: str, physical: bool, port_name: str) -> None:
    import jack

    client = jack.Client(client_name, no_start_server=True)
    port = client.midi_outports.register(port_name, is_physical=physical, is_terminal=physical)
    queue: collections.deque = collections.deque()
    cycles = [0]

    @client.set_process_callback
    def process(frames):
        cycles[0] += 1
        port.clear_buffer()
        while queue:
            for offset, msg in enumerate(queue.popleft()):
                port.write_midi_event(offset, msg)

    client.activate()
    reply({"ready": port.name})
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd["op"]
        try:
            if op == "send":
                queue.append([bytes(m) for m in cmd["messages"]])
                value = None
            elif op == "cycles":
                value = cycles[0]
            elif op == "connect":
                client.connect(port, cmd["to"])
                value = None
            elif op == "disconnect":
                client.disconnect(port, cmd["to"])
                value = None
            elif op == "connections":
                value = sorted(p.name for p in client.get_all_connections(port))
            elif op == "close":
                client.deactivate()
                client.close()
                reply({"value": None})
                return
            else:
                raise ValueError("unknown op %r" % op)
        except Exception as e:  # answered, so the test sees JACK's own message
            reply({"error": "%s: %s" % (type(e).__name__, e)})
            continue
        reply({"value": value})


def reply(obj) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] == "1", sys.argv[3])
