def lookup_order(order_id: str) -> str:
    """Look up the status of a customer's order in the shop's order system.

    Args:
        order_id: The order number the customer gives, e.g. "A-1042".

    Returns:
        str: The order's status, or a note that it was not found.
    """
    import os

    import requests

    answer = requests.get(
        f"https://orders.example.com/api/orders/{order_id}",
        headers={"Authorization": f"Bearer {os.environ['ORDERS_API_TOKEN']}"},
        timeout=10,
    )
    if answer.status_code == 404:
        return f"No order {order_id} was found."
    answer.raise_for_status()
    return str(answer.json().get("status", "unknown"))
