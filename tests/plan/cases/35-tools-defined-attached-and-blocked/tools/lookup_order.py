def lookup_order(order_id: str) -> str:
    """Look up an order's status.

    Args:
        order_id: The order id.

    Returns:
        str: The order's status.
    """
    return f"order {order_id}: delivered"
