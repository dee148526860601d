"""REST adapter of the policies app: learner redemption, policies CRUD and allocation, ledger writes."""
