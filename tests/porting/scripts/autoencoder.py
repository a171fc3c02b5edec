"""A PyTorch autoencoder on the digits: an 8-number code, nn.MSELoss, Adam, and the
reconstruction error on held-out images."""

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import load_digits
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)

images = load_digits().data.astype(np.float32) / 16.0  # pixels in [0, 1]
order = np.random.default_rng(0).permutation(len(images))
train = torch.from_numpy(images[order[:1400]])
test = torch.from_numpy(images[order[1400:]])


class AutoEncoder(nn.Module):
    def __init__(self, code=8):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, code))
        self.decoder = nn.Sequential(
            nn.Linear(code, 32), nn.ReLU(), nn.Linear(32, 64), nn.Sigmoid()
        )

    def forward(self, x):
        return self.decoder(self.encoder(x))


model = AutoEncoder()
criterion = nn.MSELoss()
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
loader = DataLoader(TensorDataset(train), batch_size=64, shuffle=True)

for _epoch in range(60):
    model.train()
    for (xb,) in loader:
        optimizer.zero_grad()
        loss = criterion(model(xb), xb)
        loss.backward()
        optimizer.step()

model.eval()
with torch.no_grad():
    mse = criterion(model(test), test).item()
    baseline = ((test - train.mean(dim=0)) ** 2).mean().item()

print(f"mse: {mse:.4f}")
print(f"baseline mse: {baseline:.4f}")
print(f"explained: {1 - mse / baseline:.4f}")
