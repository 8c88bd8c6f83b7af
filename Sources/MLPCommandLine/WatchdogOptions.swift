import ArgumentParser
import MLP

/// `--collective-timeout` (train, evaluate): the collective watchdog's limit.
struct WatchdogOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Seconds a rank may wait in one collective of a training step before the job ends with one line naming the ranks it waits for (exit 75); start-up, evaluation and waiting for rank 0 to write get \(Int(CollectiveTimeout.aloneMultiple))×; 0: no watchdog.",
        valueName: "seconds"))
    var collectiveTimeout: Double = CollectiveTimeout.defaultSeconds

    func validate() throws {
        do { _ = try CollectiveTimeout.fromOption(collectiveTimeout) } catch let error as InputError { throw ValidationError(error.message) }
    }

    /// The watchdog's limit; nil: off.
    var timeout: CollectiveTimeout? { try? CollectiveTimeout.fromOption(collectiveTimeout) }
}
