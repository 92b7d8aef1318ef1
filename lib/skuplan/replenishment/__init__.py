"""Replenishment: inventory position, safety stock, reorder point and order quantity."""
