import ArgumentParser
import MLP

/// `--collective-timeout` (train, evaluate): the collective watchdog's limit.
struct WatchdogOptions: ParsableArguments {
    @Option(name: TrainOptionTable.collectiveTimeout.long, parsing: .unconditional, help: TrainOptionTable.collectiveTimeout.argumentHelp)
    var collectiveTimeout: Double = TrainOptionTable.collectiveTimeout.declaredDefault

    func validate() throws {
        do {
            _ = try CollectiveTimeout.fromOption(collectiveTimeout)
        } catch let error as InputError {
            throw ValidationError(error.message)
        }
    }

    /// The watchdog's limit; nil: off.
    var timeout: CollectiveTimeout? { try? CollectiveTimeout.fromOption(collectiveTimeout) }
}
