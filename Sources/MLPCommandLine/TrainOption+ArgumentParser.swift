import ArgumentParser
import MLP

/// A declared option as swift-argument-parser takes it: its properties stay (the parser needs
/// them), their flag and help come from `TrainOptionTable`. Numbers are parsed `.unconditional`,
/// so `--learning-rate -1` reads -1 and is refused by its range, not as a missing value.
extension TrainOption {
    var long: NameSpecification { .customLong(String(name.dropFirst(2))) }
    var argumentHelp: ArgumentHelp { ArgumentHelp(help, valueName: valueName) }
}
