#!/usr/bin/env python3
"""A slow link for kernels built without sch_netem: what `tc netem delay D rate R` does on each
host's link, done by a user-space Ethernet switch.

  slowlink.py --delay 0.001 --rate 1e9 [--ready FILE] PORT...   the switch (in its namespace)
  slowlink.py --no-offload IFACE       compute checksums in software on IFACE (run in each host)
  slowlink.py --rtt ADDRESS            median TCP connect round trip to ADDRESS (port 9, refused)

The switch runs in the switch namespace with one interface per host (no bridge) and forwards
every frame to the port that owns its destination MAC (learned from source MACs; flooded until
then). Each output port is a link of `--rate` bit/s whose frames arrive `--delay` seconds after
they finish serializing: a frame of b bytes reaching an idle port at t is delivered at
t + 8b/rate + delay; behind others it waits its turn (FIFO). Frames re-sent by a program carry
no hardware checksum offload, hence --no-offload on the hosts' interfaces.
"""
import argparse, ctypes, fcntl, heapq, select, signal, socket, struct, sys, time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SIOCETHTOOL = 0x8946
# ethtool's legacy set commands: TX checksumming, scatter-gather, TSO, GSO.
ETHTOOL_STXCSUM, ETHTOOL_SSG, ETHTOOL_STSO, ETHTOOL_SGSO = 0x17, 0x19, 0x1F, 0x24


def no_offload(name):
    """`ethtool -K NAME tx off sg off tso off gso off`, without ethtool."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for command in (ETHTOOL_STXCSUM, ETHTOOL_SSG, ETHTOOL_STSO, ETHTOOL_SGSO):
            value = ctypes.create_string_buffer(struct.pack("II", command, 0))
            fcntl.ioctl(s.fileno(), SIOCETHTOOL, struct.pack("16sP", name.encode(), ctypes.addressof(value)))


def rtt(address, count=21):
    """Median time of a TCP connect that the peer refuses: one round trip (SYN, RST)."""
    times = []
    for _ in range(count):
        s = socket.socket()
        s.settimeout(2)
        start = time.perf_counter()
        try:
            s.connect((address, 9))
        except ConnectionRefusedError:
            pass
        times.append(time.perf_counter() - start)
        s.close()
    times.sort()
    return "%.3f ms" % (1000 * times[len(times) // 2])


def switch(ports, delay, rate, ready):
    sockets = []
    for name in ports:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
        s.bind((name, 0))
        s.setblocking(False)
        sockets.append(s)
    port_of_fd = {s.fileno(): i for i, s in enumerate(sockets)}
    port_of_mac = {}
    free_at = [0.0] * len(sockets)   # when each output link has sent what is queued on it
    queue = []                       # (delivery time, sequence, port, frame)
    sequence = 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    poller = select.epoll()
    for s in sockets:
        poller.register(s.fileno(), select.EPOLLIN)
    if ready:
        open(ready, "w").close()
    while True:
        timeout = -1 if not queue else max(0.0, queue[0][0] - time.monotonic())
        for fd, _ in poller.poll(timeout):
            port = port_of_fd[fd]
            while True:
                try:
                    frame, address = sockets[port].recvfrom(65536)
                except BlockingIOError:
                    break
                if address[2] == PACKET_OUTGOING:
                    continue              # our own transmission, seen again on this socket
                now = time.monotonic()
                port_of_mac[frame[6:12]] = port
                destination = port_of_mac.get(frame[0:6])
                outputs = [destination] if destination is not None else range(len(sockets))
                for out in outputs:
                    if out == port:
                        continue
                    start = max(now, free_at[out])
                    free_at[out] = start + 8 * len(frame) / rate
                    heapq.heappush(queue, (free_at[out] + delay, sequence, out, frame))
                    sequence += 1
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, out, frame = heapq.heappop(queue)
            try:
                sockets[out].send(frame)
            except OSError as error:
                print("slowlink: dropped a %d-byte frame on %s: %s" % (len(frame), ports[out], error), file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--delay", type=float, help="one-way delay per link, seconds")
    parser.add_argument("--rate", type=float, help="link rate, bit/s")
    parser.add_argument("--ready", help="file to create once the switch listens")
    parser.add_argument("--no-offload", metavar="IFACE")
    parser.add_argument("--rtt", metavar="ADDRESS")
    parser.add_argument("ports", nargs="*")
    args = parser.parse_args()
    if args.no_offload:
        no_offload(args.no_offload)
    elif args.rtt:
        print(rtt(args.rtt))
    else:
        if args.delay is None or args.rate is None or not args.ports:
            parser.error("the switch needs --delay, --rate and its ports")
        switch(args.ports, args.delay, args.rate, args.ready)


if __name__ == "__main__":
    main()
