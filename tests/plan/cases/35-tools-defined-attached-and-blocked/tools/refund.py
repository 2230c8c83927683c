def refund(order_id: str) -> str:
    """Refund an order.

    Args:
        order_id: The order id.

    Returns:
        str: The refund's id.
    """
    return "refund-1"
