/// The stateful Stripe emulator lives here (issue: Stripe emulator). Not built yet.
public enum StripeEmulatorModule {}
