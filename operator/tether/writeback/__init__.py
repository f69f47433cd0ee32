"""Two-way GitOps: write live changes back to Git (edit model, commit and push)."""
