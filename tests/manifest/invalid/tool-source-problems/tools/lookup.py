def look_up(order_id: str) -> str:
    return order_id
