"""A PyTorch MLP classifier on scikit-learn's digits: DataLoader, BatchNorm1d, Dropout,
AdamW, StepLR, clip_grad_norm_, and a state dict saved and loaded back."""

import os
import tempfile

import torch
import torch.nn as nn
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)
scaler = StandardScaler().fit(X_train)
X_train = torch.tensor(scaler.transform(X_train), dtype=torch.float32)
X_test = torch.tensor(scaler.transform(X_test), dtype=torch.float32)
y_train = torch.tensor(y_train, dtype=torch.long)
y_test = torch.tensor(y_test, dtype=torch.long)

train_loader = DataLoader(TensorDataset(X_train, y_train), batch_size=64, shuffle=True)


class MLP(nn.Module):
    def __init__(self, hidden=128, classes=10):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(64, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.Linear(hidden, classes),
        )

    def forward(self, x):
        return self.net(x)


model = MLP().to(device)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.5)

for _epoch in range(20):
    model.train()
    for xb, yb in train_loader:
        xb, yb = xb.to(device), yb.to(device)
        optimizer.zero_grad()
        loss = criterion(model(xb), yb)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        optimizer.step()
    scheduler.step()


def accuracy(net):
    net.eval()
    with torch.no_grad():
        predicted = torch.argmax(net(X_test.to(device)), dim=1)
        return (predicted == y_test.to(device)).float().mean().item()


with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "mlp.pt")
    torch.save(model.state_dict(), path)
    reloaded = MLP().to(device)
    reloaded.load_state_dict(torch.load(path))

print(f"accuracy: {accuracy(model):.4f}")
print(f"reloaded accuracy: {accuracy(reloaded):.4f}")
