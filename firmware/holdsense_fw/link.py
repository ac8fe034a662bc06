# One link to a host (USB serial now, BLE later): its own frame sequence number,
# its own bounded sample queue and an outbox of control frames. Transport tasks
# only call take_frames() and feed received bytes/frames to the command handler,
# so every link speaks exactly the same frames.
from .frame import (Deframer, encode_ack, encode_error, encode_frame, encode_samples, max_batch,
                    split_batches)
from .sampler import SampleQueue

OUTBOX_MAX = 32


class Link:
    def __init__(self, name, queue_len=256, has_angle=False):
        self.name = name              # "usb" or "ble": commands check it (BLE may not write calibration)
        self.queue = SampleQueue(queue_len)
        self.has_angle = has_angle
        self.seq = 0
        self.out = []
        self.deframer = Deframer()    # serial links only; BLE gets whole frames
        self.outbox_dropped = 0
        self.wake = None              # a flag the link's tx task waits on (BLE): set when a frame is queued

    @property
    def streaming(self):
        return self.queue.enabled

    def _next_seq(self):
        s = self.seq
        self.seq = (s + 1) & 0xFFFF
        return s

    def send(self, ftype, payload=b""):
        """Queue a control frame (INFO, STATUS, TEXT...)."""
        if len(self.out) >= OUTBOX_MAX:
            self.out.pop(0)
            self.outbox_dropped += 1
        self.out.append(encode_frame(ftype, self._next_seq(), payload))
        if self.wake is not None:
            self.wake.set()

    def ack(self, cmd_seq, cmd, result=b""):
        self.out.append(encode_ack(self._next_seq(), cmd_seq, cmd, result))
        if self.wake is not None:
            self.wake.set()

    def error(self, cmd_seq, cmd, code, message):
        self.out.append(encode_error(self._next_seq(), cmd_seq, cmd, code, message))
        if self.wake is not None:
            self.wake.set()

    def take_frames(self, max_samples=64):
        """Raw frames ready to send now: control frames first, then sample batches."""
        frames = self.out
        self.out = []
        items = self.queue.pop(max_samples)
        if items:
            run = []
            for it in items:
                if run and it[0] != run[-1][0] + 1:
                    self._encode_run(run, frames)
                    run = []
                run.append(it)
            self._encode_run(run, frames)
        return frames

    def _encode_run(self, run, frames):
        first = run[0][0]
        samples = [it[1] for it in run]
        for part in split_batches(samples, self.has_angle):
            frames.append(encode_samples(self._next_seq(), first, part, self.has_angle))
            first += len(part)

    @staticmethod
    def max_batch(has_angle):
        return max_batch(has_angle)
