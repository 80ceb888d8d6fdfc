/// The Stripe client lives here (issue: StripeAPI). Not built yet.
public enum StripeAPIModule {}
