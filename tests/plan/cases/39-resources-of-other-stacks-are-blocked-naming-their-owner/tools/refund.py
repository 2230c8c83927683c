def refund(payment_id: str) -> str:
    """Refund a payment.

    Args:
        payment_id: The payment to refund.
    """
    return payment_id
