import ArgumentParser
import MLP

/// `mlp info`: what a model file or checkpoint holds, without loading any data.
struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a model file or checkpoint: layers, activation, loss, names, standardization; "
            + "a checkpoint's position and run settings.",
        discussion: """
            Reads the file as training and evaluation read it (a checkpoint of a newer schema, a file that is not \
            safetensors or that mlp did not write is refused in one line, exit status 1). --json prints one object; \
            its keys are in docs/model-files.md.
            """)

    @Argument(help: ArgumentHelp("The model file or checkpoint (safetensors).", valueName: "file"))
    var file: String

    @Flag(help: "Print one JSON object instead of lines.")
    var json = false

    func run() throws {
        try withoutCommunicator {
            let info = try ModelInfo.read(path: file)
            standardOutput.line(json ? info.json : info.text)
        }
    }
}
