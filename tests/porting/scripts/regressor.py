"""A PyTorch regressor on synthetic data: torch.randn, random_split with a seeded
Generator, SGD with momentum, F.mse_loss, inference_mode."""

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset, random_split

torch.manual_seed(0)

n = 1200
X = torch.randn(n, 3)
y = (torch.sin(X[:, 0]) + 0.5 * X[:, 1] ** 2 - X[:, 2]).unsqueeze(1)
y = y + 0.05 * torch.randn(n, 1)

train_set, test_set = random_split(
    TensorDataset(X, y), [0.8, 0.2], generator=torch.Generator().manual_seed(0)
)
train_loader = DataLoader(train_set, batch_size=32, shuffle=True)
X_test, y_test = next(iter(DataLoader(test_set, batch_size=len(test_set))))

model = nn.Sequential(nn.Linear(3, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

for _epoch in range(40):
    model.train()
    for xb, yb in train_loader:
        optimizer.zero_grad()
        loss = F.mse_loss(model(xb), yb)
        loss.backward()
        optimizer.step()

model.eval()
with torch.inference_mode():
    predicted = model(X_test)
    residual = ((predicted - y_test) ** 2).sum()
    total = ((y_test - y_test.mean()) ** 2).sum()
    r2 = 1 - (residual / total).item()

print(f"r2: {r2:.4f}")
