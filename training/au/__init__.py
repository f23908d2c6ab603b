"""AU work: facegan-distill-au (distill.py, with its data in distill_data.py and its export in distill_export.py)
and the AU basis fitted from the prepared dataset (basis.py)."""
