// swift-tools-version:5.9
// The job runner as a library (RunnerCore) with its conformance tests (`swift test` on a Mac); the iOS app
// target that links it is generated from project.yml (XcodeGen), see README.md.
import PackageDescription

let package = Package(
    name: "PhoneBenchRunner",
    platforms: [.iOS(.v17), .macOS(.v14)],
    products: [.library(name: "RunnerCore", targets: ["RunnerCore"])],
    targets: [
        .target(name: "RunnerCore", path: "Sources/RunnerCore"),
        .testTarget(name: "RunnerCoreTests", dependencies: ["RunnerCore"], path: "Tests/RunnerCoreTests"),
    ]
)
