def track(order_id: str) -> str:
    """Track a parcel.

    Args:
        order_id: The order id.

    Returns:
        str: Where the parcel is.
    """
    return "in transit"
