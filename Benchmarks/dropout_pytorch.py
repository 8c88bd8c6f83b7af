"""PyTorch's nn.Dropout on the recipe `Benchmarks/dropout-vs-pytorch` gives mlp, for the
comparison of test accuracies: MNIST 784-512-512-10, ReLU, dropout after each hidden layer,
SGD with momentum, softmax cross-entropy, pixels / 255 as mlp reads them.

    python3 Benchmarks/dropout_pytorch.py --mnist DIR --dropout 0.2 --epochs 20 --seed 1

Prints one JSON object: the seed and the test accuracy after the last epoch.
"""
import argparse, gzip, json, struct

import torch


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return torch.frombuffer(bytearray(data[4 + 4 * dims:]), dtype=torch.uint8).reshape(shape)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mnist", required=True)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=0.05)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    x = idx(f"{args.mnist}/train-images-idx3-ubyte.gz").reshape(-1, 784).float() / 255
    y = idx(f"{args.mnist}/train-labels-idx1-ubyte.gz").long()
    tx = idx(f"{args.mnist}/t10k-images-idx3-ubyte.gz").reshape(-1, 784).float() / 255
    ty = idx(f"{args.mnist}/t10k-labels-idx1-ubyte.gz").long()
    p = args.dropout
    net = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Dropout(p),
                              torch.nn.Linear(512, 512), torch.nn.ReLU(), torch.nn.Dropout(p),
                              torch.nn.Linear(512, 10))
    optimizer = torch.optim.SGD(net.parameters(), lr=args.learning_rate, momentum=args.momentum)
    loss_fn = torch.nn.CrossEntropyLoss()
    for _ in range(args.epochs):
        net.train()
        for rows in torch.randperm(len(x)).split(args.batch_size):
            optimizer.zero_grad(set_to_none=True)
            loss_fn(net(x[rows]), y[rows]).backward()
            optimizer.step()
    net.eval()
    with torch.no_grad():
        accuracy = (net(tx).argmax(1) == ty).float().mean().item()
    print(json.dumps({"seed": args.seed, "test_accuracy": accuracy}))


if __name__ == "__main__":
    main()
